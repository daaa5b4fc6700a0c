% Run the pyulm MATLAB/Octave test suite (file transport) and exit with its status.
%   octave-cli --no-gui --norc -q -H -W matlab_interop/tests/run_all.m
% with PYULM_TEST_DIR set to a folder holding expected.mat (written by
% tests/test_octave.py), PYULM_PYTHON to the Python that has pyulm and,
% optionally, PYULM_TEST_NAMES to the comma-separated names of the tests to run
% (default: all).
here = fileparts(mfilename('fullpath'));
addpath(here);
addpath(fullfile(here, '..'));
addpath(fullfile(here, '..', 'dropin'));
selected = strsplit(getenv('PYULM_TEST_NAMES'), ',');
selected = selected(~cellfun(@isempty, selected));
n_failed = pyulm_tests(getenv('PYULM_TEST_DIR'), selected);
exit(double(n_failed > 0));
