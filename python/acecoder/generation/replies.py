"""Reading a chat-completions body: the completions it holds, or the one short reason it holds none.

A server (or a proxy in front of it) can answer 200 with anything: a body cut short, an HTML page, an error object,
JSON of another shape, or megabytes of junk. The OpenAI SDK meets these with whatever its JSON decoder or pydantic
raises, and an exception out of one request would end a whole batch. So the OpenAI backend reads the body itself,
capped in size, and this module turns it into texts or a ``BadReply`` whose message is the failure a summary can
count: ``bad_reply: truncated JSON``, ``bad_reply: not JSON``, ``bad_reply: no choices list``...

What is lenient on purpose: a ``null`` content is an empty completion (servers send it for refusals and tool
calls) and extra fields are ignored. A completion over the size cap is a failure, never stored, so a rerun asks
again rather than reading the junk back from the cache.
"""

from __future__ import annotations

import json

from acecoder.generation.base import oversized_reply

__all__ = ["BadReply", "reply_texts"]

# The server's own error message is kept this long in a failure.
MESSAGE_LIMIT = 200


class BadReply(ValueError):
    """A 200 whose body holds no readable completions; ``str()`` is the failure (``"bad_reply: ..."``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"bad_reply: {reason}")


def reply_texts(body: bytes, max_reply_bytes: int) -> list[str]:
    """The completions of a chat-completions body, in choice order. Raises ``BadReply``."""
    if not body.strip():
        raise BadReply("empty body")
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise BadReply("not UTF-8") from None
    except json.JSONDecodeError as error:
        # An error at the very end means the text stopped inside a value: the body was cut short.
        truncated = error.pos >= len(error.doc.rstrip())
        raise BadReply("truncated JSON" if truncated else "not JSON") from None
    except RecursionError:
        raise BadReply("JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise BadReply("not a JSON object")
    choices = document.get("choices")
    if not isinstance(choices, list):
        problem = document.get("error")
        if problem is not None:
            message = problem.get("message") if isinstance(problem, dict) else problem
            raise BadReply(f"error object: {' '.join(str(message).split())[:MESSAGE_LIMIT]}")
        raise BadReply("no choices list")
    texts: list[str] = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(content, (str, type(None))):
            raise BadReply("malformed choice")
        texts.append(content or "")
    oversized = oversized_reply(texts, max_reply_bytes)
    if oversized is not None:
        raise BadReply(oversized.removeprefix("bad_reply: "))
    return texts
