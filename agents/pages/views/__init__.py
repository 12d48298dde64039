"""HTMX pages of the ADE, one module per screen region. Every view is thin: access check, form, one domain call,
render (the partial for htmx, the whole screen otherwise)."""
