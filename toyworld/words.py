"""The English of the world's captions, shared by the prompt sets and the category objects."""


def with_article(phrase: str) -> str:
    """ "a red cube", "an orange cube"."""
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"
