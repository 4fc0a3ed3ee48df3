"""parcours: customer-journey analytics and multi-touch attribution.

The engine builds Ibis expressions; DuckDB runs them on one machine (Spark later).
"""

from parcours.errors import InvalidInput, NotBuilt, ParcoursError
from parcours.workspace import Workspace

__all__ = ["Workspace", "ParcoursError", "InvalidInput", "NotBuilt"]
__version__ = "0.1.0"
