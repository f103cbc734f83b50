"""Validates a CycloneDX JSON document against the CycloneDX 1.6 schema with the CycloneDX
project's own library (cyclonedx-python-lib, strict: no property the schema does not define).

    python3 cyclonedx-validate.py BOM.json

Exit 0, or exit 1 with the validation error.
"""

import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

with open(sys.argv[1], encoding="utf-8") as f:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read())
if error is not None:
    print(error, file=sys.stderr)
    sys.exit(1)
