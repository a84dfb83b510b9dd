# SPDX-License-Identifier: MIT
"""Runs only the pyverbs cases that mostly wait (rtcp_verbs.waiting_case
and timer_case), for tests/run, which starts this beside the discovery of
all the others (run with RDMA_TCP_TEST_BESIDE=1, they skip these).

    python3 beside.py [-v]      from tests/pyverbs, environment as for the
                                suites (rtcp_verbs.py)
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtcp_verbs import BESIDE_MARK  # noqa: E402


def cases(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from cases(t)
        else:
            yield t


def marked(test):
    method = getattr(type(test), getattr(test, '_testMethodName', ''), None)
    return getattr(method, BESIDE_MARK, False) or \
        getattr(type(test), BESIDE_MARK, False)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    found = unittest.TestLoader().discover(here, pattern='test_*.py',
                                           top_level_dir=here)
    # a module that fails to import is reported by the main discovery
    suite = unittest.TestSuite(t for t in cases(found) if marked(t))
    if not suite.countTestCases():
        print('beside.py: no waiting cases found', file=sys.stderr)
        return 1
    verbosity = 2 if '-v' in sys.argv[1:] else 1
    r = unittest.TextTestRunner(verbosity=verbosity).run(suite)
    return 0 if r.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
