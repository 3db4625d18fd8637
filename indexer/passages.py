"""Split an entry into passages that fit the model's window.

An entry is scored by its best passage, so text past the model's first 256
tokens still counts. Every passage starts with the entry's title, because a
window of body text alone often does not say what it is about.
"""

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

MAX_PASSAGES_PER_ENTRY = 1024  # passage keys reserve 10 bits per entry


@dataclass(frozen=True)
class Passage:
    text: str
    start_char: int  # span of the body this passage covers
    end_char: int


class PassageSplitter:
    def __init__(self, tokenizer_file: Path, max_tokens: int, overlap_tokens: int) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.max_tokens = max_tokens - 2  # [CLS] and [SEP]
        self.overlap_tokens = overlap_tokens

    def split(self, title: str, body: str) -> list[Passage]:
        title, body = title.strip(), body.strip()
        whole = f"{title}\n\n{body}".strip()
        title_tokens = len(self.tokenizer.encode(title, add_special_tokens=False).ids)
        body_encoding = self.tokenizer.encode(body, add_special_tokens=False)
        if title_tokens + len(body_encoding.ids) <= self.max_tokens:
            return [Passage(whole, 0, len(body))]
        # Keep at least half the window for body text, even under a very long title.
        window = max(self.max_tokens - title_tokens, self.max_tokens // 2)
        stride = max(window - self.overlap_tokens, 1)
        offsets = body_encoding.offsets
        passages: list[Passage] = []
        for start in range(0, len(offsets), stride):
            end = min(start + window, len(offsets))
            start_char, end_char = offsets[start][0], offsets[end - 1][1]
            passages.append(
                Passage(f"{title}\n\n{body[start_char:end_char]}", start_char, end_char)
            )
            if end == len(offsets) or len(passages) == MAX_PASSAGES_PER_ENTRY:
                break
        return passages
