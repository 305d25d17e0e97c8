"""The Azure LLM inference traces (Patel et al., "Splitwise", ISCA 2024; Stojkovic et al., "DynamoLLM",
HPCA 2025), published at
https://github.com/Azure/AzurePublicDataset/blob/master/AzureLLMInferenceDataset2023.md and
https://github.com/Azure/AzurePublicDataset/blob/master/AzureLLMInferenceDataset2024.md.

Each file (``AzureLLMInferenceTrace_code.csv``, ``..._conv.csv``, ``..._code_1week.csv``, ...) has the
header ``TIMESTAMP,ContextTokens,GeneratedTokens`` and one line a request, ``TIMESTAMP`` a time such as
``2023-11-16 18:15:46.6805900``. Only the arrival times are replayed: an image classifier has no
tokens, so the token counts are checked and then left out (said in the workload's description).
"""

from __future__ import annotations

from pathlib import Path

from mlscale.workload.core import Workload, from_times
from mlscale.workload.table import header, split, timestamp, width

NAME = "Azure LLM inference"
COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def read(text: str, path: str) -> Workload:
    header(text, path, COLUMNS, NAME)
    times: list[float] = []
    for row in split(text, path):
        width(row, len(COLUMNS))
        times.append(timestamp(row, 0, "TIMESTAMP"))
        row.number(1, "ContextTokens", integer=True)
        row.number(2, "GeneratedTokens", integer=True)
    label = f"{NAME}, {Path(path).name}"
    source = {"format": "azure-llm", "files": [path], "label": label}
    description = f"{label}: {len(times):,} requests' arrival times (their token counts are not replayed)"
    return from_times(Path(path).stem, times, source, description)
