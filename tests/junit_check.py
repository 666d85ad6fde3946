"""Structural check of JUnit XML against tests/data/junit.xsd: the elements and attributes CI systems
read (GitHub test reporters, GitLab, Jenkins), and counts that agree with the test cases."""
import xml.etree.ElementTree as ET
from pathlib import Path

XSD = Path(__file__).resolve().parent / "data" / "junit.xsd"


def check_junit(text):
    """Parse ``text`` and assert it follows tests/data/junit.xsd; returns the root element.

    With lxml installed the XSD itself is applied too."""
    try:
        from lxml import etree
    except ImportError:
        etree = None
    if etree is not None:
        schema = etree.XMLSchema(etree.parse(str(XSD)))
        schema.assertValid(etree.fromstring(text.encode("utf-8")))
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = list(root)
    assert suites and all(s.tag == "testsuite" for s in suites)
    total = {"tests": 0, "failures": 0, "skipped": 0}
    for s in suites:
        for a in ("name", "tests", "failures", "errors"):
            assert a in s.attrib, f"testsuite lacks {a}"
        children = list(s)
        if children and children[0].tag == "properties":
            assert all(p.tag == "property" and {"name", "value"} <= set(p.attrib) for p in children[0])
            children = children[1:]
        assert all(c.tag == "testcase" for c in children)
        fails = skips = 0
        for c in children:
            assert c.get("name") and c.get("classname") is not None
            float(c.get("time", "0"))
            kinds = [e.tag for e in c]
            assert set(kinds) <= {"failure", "skipped", "system-out"}
            assert kinds.count("failure") + kinds.count("skipped") <= 1
            fails += "failure" in kinds
            skips += "skipped" in kinds
            for e in c:
                if e.tag == "failure":
                    assert e.get("message")
        assert int(s.get("tests")) == len(children)
        assert int(s.get("failures")) == fails and int(s.get("errors")) == 0
        assert int(s.get("skipped", "0")) == skips
        total["tests"] += len(children)
        total["failures"] += fails
        total["skipped"] += skips
    for k, v in total.items():
        if k in root.attrib:
            assert int(root.get(k)) == v
    return root
