"""parcours: customer-journey analytics and multi-touch attribution.

The engine builds Ibis expressions; DuckDB runs them on one machine, Spark on a cluster
(`[warehouse] engine`), and only the storage layer knows which.
"""

from parcours.errors import InvalidInput, NotBuilt, ParcoursError
from parcours.workspace import Workspace

__all__ = ["Workspace", "ParcoursError", "InvalidInput", "NotBuilt"]
__version__ = "0.1.0"
