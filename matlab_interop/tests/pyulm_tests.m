function n_failed = pyulm_tests(workdir, names)
%PYULM_TESTS Tests of the pyulm MATLAB/Octave wrapper; returns the number of failures.
%   n_failed = pyulm_tests(workdir) runs every test of the suites below;
%   pyulm_tests(workdir, names) runs the tests named in the cell names, in
%   that order (an unknown name is a failure). workdir holds expected.mat
%   (values computed by Python) and the data file.
%   Prints one 'PASS name' or 'FAIL name [identifier] message' block per test
%   (tests/test_octave.py makes one pytest item of each) and a final
%   'N passed, M failed' line.
D = load(fullfile(workdir, 'expected.mat'));
D.workdir = workdir;
suites = {suite_wrappers(), suite_dropin(), suite_transport(), suite_edges(), suite_worker(), suite_learned(), ...
          suite_cycleulm(), suite_synth()};
tests = [suites{:}];
all_names = cellfun(@func2str, tests, 'UniformOutput', false);
if nargin < 2 || isempty(names)
    names = all_names;
end
n_passed = 0;
n_failed = 0;
for k = 1:numel(names)
    name = names{k};
    t0 = tic;
    try
        hit = find(strcmp(all_names, name), 1);
        if isempty(hit)
            error('pyulm:test:unknown', 'no test named %s in the suites of pyulm_tests.m', name);
        end
        tests{hit}(D);
        n_passed = n_passed + 1;
        fprintf('PASS %-28s %6.2f s\n', name, toc(t0));
    catch err
        n_failed = n_failed + 1;
        fprintf('FAIL %-28s [%s] %s\n', name, err.identifier, err.message);
        for s = 1:numel(err.stack)
            fprintf('       at %s line %d\n', err.stack(s).name, err.stack(s).line);
        end
    end
end
fprintf('%d passed, %d failed\n', n_passed, n_failed);
end
