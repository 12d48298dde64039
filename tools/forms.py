"""Page forms of the tools app: they parse input into the dicts that `tools.mcp_servers` takes."""

from django import forms

TYPES = [("streamable_http", "Streamable HTTP"), ("sse", "SSE"), ("stdio", "stdio (a command on this server)")]


def _pairs(text: str, sep: str, field: str) -> dict[str, str]:
    """'Name: value' (headers) or 'KEY=value' (environment) lines into a dict; blank lines are skipped."""
    pairs = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, found, value = line.partition(sep)
        if not found or not name.strip():
            raise forms.ValidationError(f"Line {n}: write one {field} per line as NAME{sep}value")
        pairs[name.strip()] = value.strip()
    return pairs


class MCPServerForm(forms.Form):
    server_name = forms.CharField(max_length=100, label="Name")
    server_type = forms.ChoiceField(choices=TYPES, label="Transport")
    server_url = forms.CharField(max_length=2000, required=False, label="URL")
    auth_token = forms.CharField(max_length=4000, required=False, label="Token", widget=forms.PasswordInput)
    auth_header = forms.CharField(max_length=200, required=False, label="Token header")
    custom_headers = forms.CharField(required=False, label="Extra headers", widget=forms.Textarea)
    command = forms.CharField(max_length=500, required=False)
    args = forms.CharField(max_length=4000, required=False, label="Arguments")
    env = forms.CharField(required=False, label="Environment", widget=forms.Textarea)

    def clean_custom_headers(self):
        return _pairs(self.cleaned_data["custom_headers"], ":", "header")

    def clean_env(self):
        return _pairs(self.cleaned_data["env"], "=", "variable")

    def config(self) -> dict:
        """The Letta-shaped config for `tools.mcp_servers.create_server`."""
        data, kind = self.cleaned_data, self.cleaned_data["server_type"]
        if kind == "stdio":
            return {
                "mcp_server_type": kind,
                "command": data["command"],
                "args": data["args"].split(),
                "env": data["env"],
            }
        config = {"mcp_server_type": kind, "server_url": data["server_url"], "custom_headers": data["custom_headers"]}
        if data["auth_token"]:
            config.update(auth_token=data["auth_token"], auth_header=data["auth_header"] or None)
        return config
