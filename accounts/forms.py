from django import forms


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="What the key is for, e.g. “CI” or “laptop”.")
    read_only = forms.BooleanField(required=False, help_text="The key may only read, whatever your role.")


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(
        choices=[("viewer", "viewer"), ("editor", "editor"), ("admin", "admin"), ("owner", "owner")]
    )


class JoinForm(forms.Form):
    """A new account made from an invitation link."""

    username = forms.RegexField(regex=r"^[\w.@+-]{1,150}$", max_length=150)
    password = forms.CharField(min_length=10, max_length=200, widget=forms.PasswordInput)
