#!/usr/bin/env python3
"""Prints 'N passed, N failed[, N skipped]' from meson's JUnit log, counting every GoogleTest
case (meson's gtest protocol lists them) and every other test as one."""
import sys
import xml.etree.ElementTree as ET

prefix = sys.argv[2] + ": " if len(sys.argv) > 2 else ""
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print(f"{prefix}0 passed, 1 failed  (no test log: {e})")
    sys.exit(0)
passed = failed = skipped = 0
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None:
        skipped += 1
    else:
        passed += 1
print(f"{prefix}{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
