"""`dnd serve`: the drag-and-drop page and an OpenAI-compatible multi-tenant server.

app.py (FastAPI app factory), tenants.py (the adapter store), nearest.py (the
out-of-domain note), chat.py (generation with per-request adapter selection),
openai_api.py (OpenAI-compatible routes), adapters_api.py (the adapter routes),
classify_api.py (calibrated choice probabilities), page/ (the static page).
"""
