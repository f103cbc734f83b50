"""Validates a CycloneDX JSON document against the schema of the version it declares (1.5 or
1.6) with the CycloneDX project's own library (cyclonedx-python-lib, strict: no property the
schema does not define).

    python3 cyclonedx-validate.py BOM.json

Exit 0, or exit 1 with the validation error.
"""

import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

VERSIONS = {"1.5": SchemaVersion.V1_5, "1.6": SchemaVersion.V1_6}

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
declared = json.loads(text).get("specVersion")
if declared not in VERSIONS:
    print(f"specVersion {declared!r} is not one of {sorted(VERSIONS)}", file=sys.stderr)
    sys.exit(1)
error = JsonStrictValidator(VERSIONS[declared]).validate_str(text)
if error is not None:
    print(error, file=sys.stderr)
    sys.exit(1)
