"""The Gradio app's parts: the models it loads once, what every result shows, and one module per tab.
`app.py` at the repository root assembles them."""
