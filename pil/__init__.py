"""Prompt2NeRF-PIL: small MLP NeRFs as 14 weight tokens, a VAE per token, and a Transformer from CLIP
embeddings to those latents."""
