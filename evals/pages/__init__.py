"""The ADE's Evals page (#16): start an eval, watch it live over a websocket, read its results, compare runs."""
