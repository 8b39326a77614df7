"""The base of the models read from files an operator writes (config, rules files): frozen, no unknown key.

An unknown key is refused rather than ignored, so a misspelt condition never
silently matches everything (config.describe_validation_error names it).
"""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
