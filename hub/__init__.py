"""The Hugging Face Hub and model sources: `hub.source` resolves what a user names ("toy", a folder,
`user/repo`) for every loader; `hub.push` uploads a trained model folder."""
