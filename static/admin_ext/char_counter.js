// Live "chars / limit" counter under block values in the admin; red past the limit.
document.addEventListener("DOMContentLoaded", () => {
  const value = document.querySelector("textarea.engram-counted");
  const limit = document.getElementById("id_limit");
  if (!value || !limit) return;
  const counter = document.createElement("div");
  counter.className = "help";
  value.after(counter);
  const update = () => {
    const n = [...value.value].length, max = parseInt(limit.value || "0", 10);
    counter.textContent = `${n} / ${max} characters`;
    counter.style.color = n > max ? "#b00" : "";
  };
  value.addEventListener("input", update);
  limit.addEventListener("input", update);
  update();
});
