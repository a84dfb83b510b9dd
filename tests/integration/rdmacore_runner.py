# SPDX-License-Identifier: MIT
"""Run modules of rdma-core's own test suite and judge the outcome.

  python3 rdmacore_runner.py TESTS_DIR KNOWN_FILE MODULE... -- --dev D --gid 0

TESTS_DIR is an unpacked copy of rdma-core's tests/ (Debian's
/usr/share/doc/rdma-core/tests, gunzipped); KNOWN_FILE holds one test id per
line (tests.test_x.Class.test_y), the known failures. The suite's own
argument parser takes what follows "--".

Prints every test's outcome ("ok", "skip", "FAIL", "known"), then the
counts, the failures and the skip reasons grouped with their number. Exit
status 1 if a test that does not skip failed and is not a known failure.
"""
import collections
import importlib.machinery
import os
import sys
import unittest


class Recorder(unittest.TextTestResult):
    """Keeps (status, id, reason) for each test, in the order they ran."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = []

    def _note(self, status, test, reason=''):
        self.outcomes.append((status, test.id(), reason))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._note('pass', test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._note('skip', test, reason)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._note('fail', test, self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._note('fail', test, self._exc_info_to_string(err, test))

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._note('pass', test)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._note('fail', test, 'unexpected success')


def load_suite(tests_dir, modules, suite_args):
    """The suite's package loaded as rdma-core's run_tests.py loads it."""
    sys.path.insert(0, tests_dir)
    sys.argv[1:] = suite_args
    from args_parser import parser  # the suite's own module
    parser.parse_args()
    init = os.path.join(tests_dir, '__init__.py')
    pkg = importlib.machinery.SourceFileLoader('tests', init).load_module()
    loader = unittest.TestLoader()
    return unittest.TestSuite(
        loader.loadTestsFromName(m, pkg) for m in modules)


def report(outcomes, known):
    counts = collections.Counter(s for s, _, _ in outcomes)
    skips = collections.Counter(r for s, _, r in outcomes if s == 'skip')
    failed = [(t, r) for s, t, r in outcomes if s == 'fail']
    bad = [(t, r) for t, r in failed if t not in known]
    for t, r in failed:  # a known failure's trace too: it says which way
        print(f'\n---- {"known" if t in known else "FAIL"} {t}\n{r.rstrip()}')
    print(f'\n{len(outcomes)} tests: {counts["pass"]} passed, '
          f'{counts["fail"]} failed ({len(failed) - len(bad)} known), '
          f'{counts["skip"]} skipped')
    print('\nfailures:')
    for t, _ in failed:
        print(f'  {t}{"  (known)" if t in known else ""}')
    print('\nskip reasons:')
    for reason, n in skips.most_common():
        print(f'  {n:3d}  {reason}')
    ran = {t for _, t, _ in outcomes}
    for t in sorted(known - ran):
        print(f'note: known failure {t} did not run')
    for s, t, _ in outcomes:
        if t in known and s == 'pass':
            print(f'note: known failure {t} passed this run '
                  '(drop it from the list once fixed)')
    return not bad


def main():
    sep = sys.argv.index('--')
    tests_dir, known_file, *modules = sys.argv[1:sep]
    with open(known_file) as f:
        known = {line.strip() for line in f if line.strip()}
    suite = load_suite(tests_dir, modules, sys.argv[sep + 1:])
    runner = unittest.TextTestRunner(resultclass=Recorder, verbosity=0,
                                     stream=open(os.devnull, 'w'))
    result = runner.run(suite)
    tag = {'pass': 'ok  ', 'skip': 'skip', 'fail': 'FAIL'}
    for s, t, r in result.outcomes:
        mark = 'known' if s == 'fail' and t in known else tag[s]
        why = f'  ({r})' if s == 'skip' else ''
        print(f'{mark} {t}{why}')
    sys.exit(0 if report(result.outcomes, known) else 1)


if __name__ == '__main__':
    main()
