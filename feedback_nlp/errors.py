"""Every exception the library raises on purpose; messages say what was wrong and what to do."""


class FeedbackNLPError(Exception):
    """Base class for errors the library raises deliberately."""


class ConfigError(FeedbackNLPError):
    """A configuration value is missing or invalid."""


class RoadmapError(FeedbackNLPError):
    """The roadmap file is broken (missing field, duplicate id, bad status)."""


class InputError(FeedbackNLPError):
    """An input file cannot be read at all (unknown extension, missing file)."""


class EncoderError(FeedbackNLPError):
    """The sentence encoder cannot be loaded or does not match its expected checksum."""


class ModelLoadError(FeedbackNLPError):
    """A model artifact is missing, incomplete or fails verification."""


class TrainingError(FeedbackNLPError):
    """Training cannot produce a model (for example, too little usable feedback)."""


class ValidationError(FeedbackNLPError):
    """A feedback item given for scoring is invalid; the message names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class WorkBudgetError(ValidationError):
    """An item would cost more work than the caller allows (too many units); ``index`` is its position."""

    def __init__(self, index: int, field: str, message: str):
        super().__init__(field, message)
        self.index = index
