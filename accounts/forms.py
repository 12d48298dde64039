from django import forms


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="What the key is for, e.g. “CI” or “laptop”.")
