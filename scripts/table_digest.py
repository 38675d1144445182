"""Row count and content hash of every table in a Parquet warehouse (quantbot_pipelines/warehouse/digest.py):

    python scripts/table_digest.py [folder, default data/warehouse] > digest.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quantbot_pipelines.warehouse import ParquetWarehouse
from quantbot_pipelines.warehouse.digest import warehouse_digest

if __name__ == "__main__":
    print(json.dumps(warehouse_digest(ParquetWarehouse(sys.argv[1] if len(sys.argv) > 1 else "data/warehouse")),
                     indent=1))
