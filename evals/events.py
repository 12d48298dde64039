"""The channel group of one eval: pages watching it receive `{"type": "eval_progress", "eval_id", "status", "done",
"total", "summary", "result"}` after each sample (result = that sample's row, rendered) and when the status changes
(result = null)."""


def eval_group(eval_id: str) -> str:
    return f"eval.{eval_id}"
