function tests = suite_wrappers()
%SUITE_WRAPPERS Octave/MATLAB tests of the pyulm.* wrappers: setup, filtering, localization,
%   tracking, rendering, reading, errors.
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_setup, @test_setup_errors, @test_available_methods, @test_butter, @test_svdfilter, ...
         @test_localize, @test_track_render, @test_read, @test_metrics, @test_filter_block, @test_process, ...
         @test_python_errors, @test_bad_arguments, @test_version_mismatch};
end

function test_setup(D)
info = pyulm.setup('Python', D.python, 'Transport', 'file');
check(strcmp(info.pyulm_version, D.version), 'pyulm version %s, expected %s', info.pyulm_version, D.version);
check(strcmp(info.pyulm_version, pyulm.version()), 'wrapper version %s', pyulm.version());
check(strcmp(info.transport, 'file'), 'transport %s', info.transport);
% the saved preference survives 'clear all' (PALA scripts start with it)
old = getenv('PYULM_PYTHON');
setenv('PYULM_PYTHON', '');
restore = onCleanup(@() setenv('PYULM_PYTHON', old));
clear functions; %#ok<CLFUNC>
s = pyulm.internal.settings();
check(strcmp(s.python, D.python), 'saved python %s, expected %s', s.python, D.python);
check(strcmp(s.transport, 'file'), 'transport %s', s.transport);
end

function test_setup_errors(D)
expect_error(@() pyulm.setup('Python', fullfile(D.workdir, 'no such python'), 'Save', false), ...
             'pyulm:PythonNotFound', 'no such python');
expect_error(@() pyulm.setup('Python', getenv('PYULM_TEST_FAKE_PYTHON'), 'Save', false), ...
             'pyulm:PyulmNotInstalled', 'pip install pyulm==');
old_py = fullfile(D.workdir, 'old python');
fid = fopen(old_py, 'w');
fprintf(fid, '#!/bin/sh\necho 3.8\n');
fclose(fid);
system(['chmod +x ' pyulm.internal.shell_quote(old_py)]);
expect_error(@() pyulm.setup('Python', old_py, 'Save', false), 'pyulm:UnsupportedPython', '3.8');
expect_error(@() pyulm.setup('Transport', 'carrier pigeon'), 'pyulm:BadArgument', 'Transport');
% a failed setup leaves the working settings alone
s = pyulm.internal.settings();
check(strcmp(s.python, D.python), 'settings changed by a failed setup: %s', s.python);
end

function test_available_methods(D)
m = pyulm.available_methods();
check(iscellstr(m) && isequal(m(:), D.methods(:)), 'methods differ');
end

function test_butter(D)
[b, a] = pyulm.butter_coefficients(D.band, D.frame_rate);
check_close(b, D.b, 1e-12, 'b');
check_close(a, D.a, 1e-12, 'a');
end

function test_svdfilter(D)
IQ = load_iq(D);
IQf = pyulm.SVDfilter(IQ, [5 size(IQ, 3)]);
check(~isreal(IQf) && isa(IQf, 'double'), 'class %s', class(IQf));
IQf = filter(D.b, D.a, IQf, [], 3);
check_close(IQf, D.IQf, 1e-9, 'SVDfilter + filter');
end

function test_localize(D)
locs = pyulm.localize(abs(D.IQf), 'radial', 'fwhm', 3, 'number_of_particles', D.ULM.numberOfParticles, ...
                      'n_local_max', 3);
check(isstruct(locs) && strcmp(locs.pyulm_type, 'Localizations'), 'not a Localizations struct');
check_close(locs.z, D.locs_z, 1e-12, 'z');
check_close(locs.x, D.locs_x, 1e-12, 'x');
check(isequal(locs.frame, D.locs_frame), 'frame (1-based) differs');
end

function test_track_render(D)
locs = pyulm.localize(abs(D.IQf), 'radial', 'fwhm', 3, 'number_of_particles', D.ULM.numberOfParticles, ...
                      'n_local_max', 3);
tr = pyulm.track(locs, 'max_linking_distance', 2, 'max_gap_closing', 0, 'min_length', 15, ...
                 'frame_rate', D.frame_rate);
check(strcmp(tr.pyulm_type, 'Tracks') && iscell(tr.tracks), 'not a Tracks struct');
check(numel(tr.tracks) == D.track_n, '%d tracks, expected %d', numel(tr.tracks), D.track_n);
check_close(tr.tracks{1}, D.track_first, 1e-6, 'first track');
maps = pyulm.render(tr, 'res', 10, 'shape', D.ULM.size(1:2), 'kinds', 'density');
check(isequal(maps.density, D.render_density), 'density map differs');
end

function test_read(D)
f = fullfile(D.workdir, 'PALA block ''one'' & co.mat');
data = pyulm.read(f, 'frames', [3 10]);
IQ = load_iq(D);
check(isequal(data.IQ, IQ(:, :, 3:10)), 'IQ frames 3:10 differ');
check(data.info.frame_rate == D.frame_rate, 'frame rate %g', data.info.frame_rate);
check(strcmp(data.info.path, f), 'path %s', data.info.path);
expect_error(@() pyulm.read(fullfile(D.workdir, 'missing file.mat')), 'pyulm:Python:FormatError', 'no such file');
end

function test_metrics(D) %#ok<INUSD>
r = pyulm.metrics('map_rmse', ones(3, 3), zeros(3, 3), 'normalize', 'none');
check(abs(r - 1) < 1e-12, 'map_rmse = %g', r);
expect_error(@() pyulm.metrics('rm_rf'), 'pyulm:Python:BridgeError', 'no public function');
end

function test_filter_block(D)
IQ = load_iq(D);
IQf = pyulm.filter_block(IQ, 'svd_cutoff', [5 size(IQ, 3)], 'band', D.band, 'frame_rate', D.frame_rate);
check_close(IQf, D.IQf, 1e-9, 'filter_block');
end

function test_process(D)
ULM = px_ulm(D);
ULM.frame_rate = D.frame_rate;
r = pyulm.process(load_iq(D), ULM);
check_close(r.MatTracking, D.MatTracking + [0 1 1 0], 1e-9, 'process: MatTracking (1-based)');
check(numel(r.tracks) == numel(D.tracks), 'process: %d tracks, expected %d', numel(r.tracks), numel(D.tracks));
check_close(r.tracks{end}, D.tracks{end}, 1e-5, 'process: last track');
end

function test_python_errors(D) %#ok<INUSD>
err = expect_error(@() pyulm.SVDfilter(randn(4, 4, 10), [0 3]), 'pyulm:Python:ValueError', 'cutoff');
check(isempty(strfind(err.message, 'Traceback')), 'message carries a traceback');
expect_error(@() pyulm.internal.call('os.system', 1, {'echo hacked'}), 'pyulm:Python:BridgeError', ...
             'unknown function');
ULM = struct('fwhm', [3 3]);
expect_error(@() ULM_localization2D(rand(20, 20, 2), ULM), 'pyulm:Python:ValueError', 'numberOfParticles');
end

function test_bad_arguments(D) %#ok<INUSD>
expect_error(@() SVDfilter('abc', 5), 'pyulm:BadArgument', 'IQ');
expect_error(@() ULM_localization2D(rand(5, 5, 2), 5), 'pyulm:BadArgument', 'ULM');
expect_error(@() ULM_tracking2D(rand(5, 4), struct(), 7), 'pyulm:BadArgument', 'mode');
expect_error(@() pyulm.localize(rand(5, 5, 2), 'radial', 'fwhm'), 'pyulm:BadArgument', 'pairs');
expect_error(@() pyulm.localize(rand(5, 5, 2), 'radial', 3, 4), 'pyulm:BadArgument', 'option name');
expect_error(@() pyulm.internal.call('svd_filter', 1, {{@sin}, 1}), 'pyulm:BadArgument', 'function_handle');
expect_error(@() pyulm.internal.call('echo', 1, {struct('a', {{speye(3)}})}), 'pyulm:BadArgument', 'full(X)');
end

function test_version_mismatch(D) %#ok<INUSD>
expect_error(@() pyulm.internal.raise_python('VersionMismatch', 'wrapper 9 vs 1'), 'pyulm:VersionMismatch', ...
             'wrapper 9');
expect_error(@() pyulm.internal.raise_python('not an id!', 'm'), 'pyulm:Python:Exception', 'm');
end
