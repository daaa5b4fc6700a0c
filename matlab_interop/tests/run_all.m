% Run the pyulm MATLAB/Octave test suite (file transport) and exit with its status.
%   octave-cli --no-gui --norc -q -H -W matlab_interop/tests/run_all.m
% with PYULM_TEST_DIR set to a folder holding expected.mat (written by
% tests/test_octave.py) and PYULM_PYTHON to the Python that has pyulm.
here = fileparts(mfilename('fullpath'));
addpath(here);
addpath(fullfile(here, '..'));
addpath(fullfile(here, '..', 'dropin'));
n_failed = pyulm_tests(getenv('PYULM_TEST_DIR'));
exit(double(n_failed > 0));
