"""The ADE's HTMX pages: views, panels, live pushes over the websocket, forms."""
