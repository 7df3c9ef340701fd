"""Every user-facing error type: the CLI prints each as red lines (no traceback) and exits with its code.

The Python API raises the same errors, so a notebook sees the sentence the CLI would print.
"""


def first_line(error: BaseException | str, limit: int = 200) -> str:
    """The first line of an error's message (h5py's and TensorFlow's span many), or its type when it has none."""
    return (str(error).splitlines() or [type(error).__name__])[0][:limit]


MAX_SHOWN = 80  # characters of a user's value quoted in a message


def shorten(value: object, limit: int = MAX_SHOWN) -> str:
    """repr(value), cut to limit characters: a message never quotes user input unbounded."""
    try:
        text = repr(value)
    except RecursionError:
        text = "<a recursive value>"
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


class VaeError(Exception):
    """A failure the user can understand and fix; `lines` are printed one per line.

    Messages name the Python arguments a caller gave ("columns must be at least 1"); `arguments` lists those
    names, and the CLI words them as its flags ("--columns must be at least 1") when it prints the error.
    """

    exit_code = 1

    def __init__(self, *lines: str, arguments: tuple[str, ...] = ()):
        super().__init__("\n".join(lines))
        self.lines = list(lines)
        self.arguments = arguments


class ConfigError(VaeError):
    """Bad config file, bad --set override, bad option or an impossible architecture."""

    exit_code = 2


class DataError(VaeError):
    """A data set that cannot be found or read."""

    exit_code = 2


class RunError(VaeError):
    """A run folder that is missing, incomplete, or would be overwritten."""

    exit_code = 2


class CheckpointDamaged(RunError):
    """A run file whose bytes match no recorded checksum (a flipped bit, an edited or foreign file), or run files
    that disagree (checkpoint, metrics.jsonl and manifest.json name different epochs)."""


class LatentError(VaeError):
    """A latent file, array or latent-space option that cannot be used as given."""

    exit_code = 2


class CompareError(VaeError):
    """Runs that cannot be compared as asked (an unknown column, mixed feature spaces)."""

    exit_code = 2


class FeatureSpaceError(VaeError):
    """A feature space that cannot be used for this run (no labels, no local weights, unknown name)."""

    exit_code = 2


class TrainingFailed(VaeError):
    """Training stopped on its own (a NaN or Inf loss); the last good checkpoint is kept."""

    exit_code = 1


class TrainingInterrupted(VaeError):
    """Ctrl-C or SIGTERM: the run is marked KILLED and can be resumed."""

    exit_code = 130


class OutputError(VaeError, OSError):
    """A file that cannot be written where asked: a full disk, a read-only or immutable folder, an output path
    that is a folder or lies under a file. Also an OSError, so code that guards a write with `except OSError`
    keeps working; `errno` and `filename` are those of the failure underneath."""

    exit_code = 2

    def __init__(
        self, *lines: str, errno: int | None = None, filename: str | None = None, arguments: tuple[str, ...] = ()
    ):
        super().__init__(*lines, arguments=arguments)
        self.errno, self.filename = errno, filename

    def __str__(self) -> str:
        return "\n".join(self.lines)


class ResourceError(VaeError):
    """A config or option that asks for more memory than the machine has (parameters, activations, images)."""

    exit_code = 2
