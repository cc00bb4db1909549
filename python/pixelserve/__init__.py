"""pixelserve: run trained ilastik projects outside ilastik's GUI."""

__version__ = "0.1.0"

from .api import Project, open_project, train  # noqa: E402
from .errors import ProjectError, UserError  # noqa: E402

__all__ = ["Project", "ProjectError", "UserError", "open_project", "train", "__version__"]
