function n_failed = pyulm_tests(workdir)
%PYULM_TESTS Tests of the pyulm MATLAB/Octave wrapper; returns the number of failures.
%   workdir holds expected.mat (values computed by Python) and the data file.
%   Prints one line per test and a final 'N passed, M failed' line.
D = load(fullfile(workdir, 'expected.mat'));
D.workdir = workdir;
tests = {@test_setup, @test_setup_errors, @test_available_methods, @test_butter, @test_svdfilter, ...
         @test_pala_script, @test_locmethod, @test_tracking_pala, @test_track2matout_modes, ...
         @test_localize, @test_track_render, @test_read, @test_metrics, @test_filter_block, ...
         @test_process, @test_python_errors, @test_bad_arguments, @test_npy_transport, ...
         @test_classes_roundtrip, @test_tempdir_cleanup, @test_version_mismatch, @test_shell_quote, ...
         @test_side_files, @test_side_files_odd_values, @test_side_files_mat_format, @test_npy_odd_sizes, ...
         @test_python_environment};
n_passed = 0;
n_failed = 0;
for k = 1:numel(tests)
    name = func2str(tests{k});
    t0 = tic;
    try
        tests{k}(D);
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

% ---------------------------------------------------------------- helpers
function check(cond, varargin)
if ~cond
    error('pyulm:test:fail', varargin{:});
end
end

function check_close(a, b, tol, what)
check(isequal(size(a), size(b)), '%s: size %s, expected %s', what, mat2str(size(a)), mat2str(size(b)));
err = max(abs(double(a(:)) - double(b(:))));
scale = max(1, max(abs(double(b(:)))));
if isempty(err)
    err = 0;
end
check(err <= tol * scale, '%s: max abs difference %g (tolerance %g)', what, err, tol * scale);
end

function err = expect_error(f, identifier, fragment)
err = [];
try
    f();
catch err
end
check(~isempty(err), 'expected error %s, got none', identifier);
check(strcmp(err.identifier, identifier), 'expected error %s, got %s: %s', identifier, err.identifier, err.message);
if nargin >= 3
    check(~isempty(strfind(err.message, fragment)), 'error message "%s" lacks "%s"', err.message, fragment);
end
end

function tf = same_bits(a, b)
% same class, size, complexity and bit pattern (NaN payloads, -0)
tf = strcmp(class(a), class(b)) && isequal(size(a), size(b)) && isreal(a) == isreal(b);
if tf && (islogical(a) || ischar(a))
    tf = isequal(a, b);
elseif tf
    tf = isequal(typecast(real(a(:)), 'uint8'), typecast(real(b(:)), 'uint8')) && ...
         isequal(typecast(imag(a(:)), 'uint8'), typecast(imag(b(:)), 'uint8'));
end
end

function check_echo(values, what)
out = cell(1, numel(values));
[out{:}] = pyulm.internal.call('echo', numel(values), values);
for k = 1:numel(values)
    v = values{k};
    y = out{k};
    check(same_bits(y, v), '%s: value %d (%s %s, complex %d) came back as %s %s, complex %d', what, k, class(v), ...
          mat2str(size(v)), ~isreal(v), class(y), mat2str(size(y)), ~isreal(y));
end
end

function [listing, restore] = spy_transport(D, s)
% Use s with a Python wrapper that lists the transport directory (name and
% first 10 bytes of each file) after Python has answered.
listing = fullfile(D.workdir, 'spy listing.txt');
spy = fullfile(D.workdir, 'spy python');
q = @pyulm.internal.shell_quote;
fid = fopen(spy, 'w');
fprintf(fid, '#!/bin/sh\n%s "$@"\nst=$?\n', q(D.python));
fprintf(fid, 'for f in *; do printf ''%%s '' "$f"; head -c 10 "$f"; echo; done > %s\nexit $st\n', q(listing));
fclose(fid);
system(['chmod +x ' q(spy)]);
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
s.python = spy;
pyulm.internal.settings(s);
end

function txt = read_text(f)
fid = fopen(f, 'r');
txt = fread(fid, Inf, '*char').';
fclose(fid);
end

function IQ = load_iq(D)
S = load(fullfile(D.workdir, 'PALA block ''one'' & co.mat'), 'IQ');
IQ = S.IQ;
end

function ULM = px_ulm(D)
ULM = D.ULM;
ULM.LocMethod = 'radial';
end

% ---------------------------------------------------------------- tests
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

function test_pala_script(D)
workdir = D.workdir; %#ok<NASGU>
pala_style_example;
check(strcmp(which('ULM_localization2D'), fullfile(fileparts(fileparts(mfilename('fullpath'))), 'dropin', ...
                                                   'ULM_localization2D.m')), ...
      'ULM_localization2D is not the drop-in: %s', which('ULM_localization2D'));
check_close(MatTracking, D.MatTracking, 1e-9, 'MatTracking');
check(iscell(Track_tot) && size(Track_tot, 2) == 1, 'Track_tot is not a cell column');
check(numel(Track_tot) == numel(D.tracks), '%d tracks, expected %d', numel(Track_tot), numel(D.tracks));
for k = 1:numel(Track_tot)
    check(isa(Track_tot{k}, 'single'), 'velocityinterp tracks must be single');
    check_close(Track_tot{k}, D.tracks{k}, 1e-5, sprintf('track %d', k));
end
check(isequal(MatOut, D.MatOut), 'MatOut differs');
check(isequal(MatOut2, D.MatOut2), 'MatOut (2 outputs) differs');
check_close(MatOut_zdir, D.MatOut_zdir, 1e-6, 'MatOut_zdir (1 output = velocity map)');
check_close(MatOut_vel, D.MatOut_vel, 1e-6, 'MatOut_vel');
check(any(MatOut_zdir(:) < 0) && any(MatOut_zdir(:) > 0), 'MatOut_zdir is not the signed velocity map');
end

function test_locmethod(D)
ULM = px_ulm(D);
ULM.LocMethod = 'wa';
M = ULM_localization2D(abs(D.IQf), ULM);
check_close(M, D.MatTracking_wa, 1e-9, 'WA MatTracking');
ULM.LocMethod = 'no such method';
expect_error(@() ULM_localization2D(abs(D.IQf(:, :, 1:5)), ULM), 'pyulm:Python:ValueError', 'no such method');
end

function test_tracking_pala(D)
M = pyulm.ULM_localization2D(abs(D.IQf), px_ulm(D));
[raw, interp] = ULM_tracking2D(M, D.ULM, 'pala');
check(numel(raw) == numel(D.raw) && numel(interp) == numel(D.interp), 'track counts differ');
for k = 1:numel(raw)
    check_close(raw{k}, D.raw{k}, 1e-12, sprintf('raw track %d', k));
    check_close(interp{k}, D.interp{k}, 1e-9, sprintf('interp track %d', k));
end
end

function test_track2matout_modes(D) %#ok<INUSD>
T = {[1.2 1.6; 1.4 1.4; 2.5 2.5; 2.6 2.4; 9 9], [1.0 2.0; 0.4 1.0]};
M = ULM_Track2MatOut(T, [3 3], 'mode', '2D_tracks');
check(isequal(M, [1 2 0; 0 0 0; 0 1 1]), '2D_tracks: %s', mat2str(M));
M = ULM_Track2MatOut([1.2 1.6; 1.4 1.4; 2.5 2.5], [3 3]);
check(isequal(M, [1 1 0; 0 0 0; 0 0 1]), '2D_allin default for a matrix: %s', mat2str(M));
expect_error(@() ULM_Track2MatOut(T, [3 3], 'colour', 'red'), 'pyulm:BadArgument', 'mode');
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
check_close(r.MatTracking, D.MatTracking, 1e-9, 'process: MatTracking');
check(numel(r.tracks) == numel(D.tracks), 'process: %d tracks, expected %d', numel(r.tracks), numel(D.tracks));
check_close(r.tracks{end}, D.tracks{end}, 1e-5, 'process: last track');
end

function test_python_errors(D) %#ok<INUSD>
err = expect_error(@() pyulm.SVDfilter(randn(4, 4, 10), [0 3]), 'pyulm:Python:ValueError', 'SVD_cutoff');
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

function test_npy_transport(D)
% force the .npy path (used above 2 GB) with a tiny threshold, both directions
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
s = s0;
s.npy_threshold = 1000;
pyulm.internal.settings(s);
IQ = load_iq(D);
IQf = pyulm.SVDfilter(single(IQ), [5 size(IQ, 3)]);
check(isa(IQf, 'single') && ~isreal(IQf), 'class %s', class(IQf));
check_close(filter(D.b, D.a, double(IQf), [], 3), D.IQf, 1e-4, 'SVDfilter through .npy');
values = {int16(reshape(1:600, 10, 20, 3)), rand(20, 30, 2) > 0.5, complex(rand(30, 40), -rand(30, 40)), ...
          uint8(1:3)};
out = cell(1, numel(values));
[out{:}] = pyulm.internal.call('echo', numel(values), values);
for k = 1:numel(values)
    check(strcmp(class(out{k}), class(values{k})) && isequal(out{k}, values{k}), ...
          '.npy round trip of value %d (%s) gave %s %s', k, class(values{k}), class(out{k}), mat2str(size(out{k})));
end
end

function test_classes_roundtrip(D) %#ok<INUSD>
% 'echo' returns its arguments: class, shape and values must survive both ways
values = {int16([1 -2; 3 4]), uint8(1:5), single([1.5; 2.5]), complex(single([1 2]), single([3 -4])), ...
          true(2, 3), reshape(1:24, 2, 3, 4), complex(rand(3, 2, 2), rand(3, 2, 2)), 7, 'text', ...
          zeros(0, 4), 2 + 3i, true};
out = cell(1, numel(values));
[out{:}] = pyulm.internal.call('echo', numel(values), values);
for k = 1:numel(values)
    v = values{k};
    y = out{k};
    check(strcmp(class(y), class(v)) && isequal(y, v) && isreal(y) == isreal(v) && isequal(size(y), size(v)), ...
          'value %d (%s %s) came back as %s %s', k, class(v), mat2str(size(v)), class(y), mat2str(size(y)));
end
% a 1x1 integer becomes a Python int, which comes back as double
n = pyulm.internal.call('echo', 1, {int64(-5)});
check(isa(n, 'double') && n == -5, 'int64 scalar gave %s', class(n));
% structs and cells: fields and items convert recursively; a list comes back as a cell column
[s, c] = pyulm.internal.call('echo', 2, {struct('a', 1, 'b', 'x', 'c', {{1, 'y'}}), {1, 'two', [3 4]}});
check(isstruct(s) && s.a == 1 && strcmp(s.b, 'x') && iscell(s.c) && strcmp(s.c{2}, 'y'), 'struct round trip');
check(iscell(c) && isequal(size(c), [3 1]) && strcmp(c{2}, 'two') && isequal(c{3}, [3 4]), 'cell round trip');
end

function test_tempdir_cleanup(D) %#ok<INUSD>
before = dir(tempdir());
pyulm.SVDfilter(rand(4, 4, 6), 5);
try
    pyulm.SVDfilter(rand(4, 4, 6), [0 2]);
catch
end
after = dir(tempdir());
check(numel(after) == numel(before), 'temporary entries: %d before, %d after', numel(before), numel(after));
check(~isempty(strfind(tempdir(), ' ')), 'the test must run with a tempdir containing spaces: %s', tempdir());
end

function test_version_mismatch(D) %#ok<INUSD>
expect_error(@() pyulm.internal.raise_python('VersionMismatch', 'wrapper 9 vs 1'), 'pyulm:VersionMismatch', ...
             'wrapper 9');
expect_error(@() pyulm.internal.raise_python('not an id!', 'm'), 'pyulm:Python:Exception', 'm');
end

function test_shell_quote(D)
names = {'plain', 'with space', 'it''s', 'a"b', '$HOME `id` ;|&', ''};
for k = 1:numel(names)
    [status, out] = system(['printf %s ' pyulm.internal.shell_quote(names{k})]);
    check(status == 0 && strcmp(out, names{k}), 'shell_quote(%s) -> %s', names{k}, out);
end
check(~isempty(strfind(D.workdir, '''')) && ~isempty(strfind(D.workdir, ' ')), 'workdir lacks quotes/spaces');
expect_error(@() pyulm.internal.shell_quote(['a' char(10) 'b']), 'pyulm:BadArgument', 'newlines');
end

function test_python_environment(D) %#ok<INUSD>
% the file transport's Python gets huge pages for its malloc, on top of the user's tunables
s = pyulm.internal.settings();
old = getenv('GLIBC_TUNABLES');
code = 'import os; print(os.environ.get("GLIBC_TUNABLES"))';
setenv('GLIBC_TUNABLES', 'glibc.malloc.arena_max=2');
[status, out] = system(pyulm.internal.python_command(s.python, {'-c', code}, tempdir()));
setenv('GLIBC_TUNABLES', 'glibc.malloc.hugetlb=0');
[status2, out2] = system(pyulm.internal.python_command(s.python, {'-c', code}, tempdir()));
setenv('GLIBC_TUNABLES', old);
check(status == 0 && strcmp(strtrim(out), 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'), ...
      'GLIBC_TUNABLES in Python: %s', out);
check(status2 == 0 && strcmp(strtrim(out2), 'glibc.malloc.hugetlb=0'), ...
      'a user''s hugetlb choice was changed: %s', out2);
end

function test_side_files(D)
% arrays of 1 MiB or more travel in side files, both ways, bit for bit
s = pyulm.internal.settings();
check(s.side_threshold == 2^20, 'default side_threshold %g', s.side_threshold);
[listing, restore] = spy_transport(D, s); %#ok<ASGLU>
IQ = load_iq(D);
before = dir(tempdir());
values = {single(IQ), IQ, abs(IQ), single(abs(IQ)), IQ(:, end:-1:1, 1:2:end), repmat(abs(IQ) > 100, [1 1 3]), ...
          repmat(int16(real(IQ)), [1 1 2])};
check(all(cellfun(@(v) pyulm.internal.nbytes(v), values) >= 2^20), 'a test value is below the side threshold');
check_echo(values, 'side files');
txt = read_text(listing);
for k = 1:numel(values)
    check(~isempty(strfind(txt, sprintf('arg_%d.side', k))), 'argument %d did not travel in a side file:\n%s', k, txt);
    check(~isempty(strfind(txt, sprintf('out_%d.side', k))), 'output %d did not travel in a side file:\n%s', k, txt);
end
% Octave: its binary format for double and complex single arguments and for float results, MAT v5 otherwise
check(~isempty(strfind(txt, 'arg_1.side Octave-1-L')) && ~isempty(strfind(txt, 'arg_2.side Octave-1-L')) && ...
      ~isempty(strfind(txt, 'arg_4.side MATLAB 5.0')) && ...
      ~isempty(strfind(txt, 'arg_6.side MATLAB 5.0')) && ~isempty(strfind(txt, 'out_1.side Octave-1-L')) && ...
      ~isempty(strfind(txt, 'out_4.side Octave-1-L')) && ~isempty(strfind(txt, 'out_7.side MATLAB 5.0')), ...
      'unexpected side file formats:\n%s', txt);
check(isempty(strfind(txt, '.npy')), '.npy files below 2 GB:\n%s', txt);
% a wrapper call on a block: SVDfilter reads the IQ block from a side file and answers in one
IQf = pyulm.SVDfilter(IQ, [5 size(IQ, 3)]);
check_close(filter(D.b, D.a, IQf, [], 3), D.IQf, 1e-9, 'SVDfilter through side files');
after = dir(tempdir());
check(numel(after) == numel(before), 'temporary entries: %d before, %d after', numel(before), numel(after));
end

function test_side_files_odd_values(D) %#ok<INUSD>
% every numeric/logical value through side files (threshold 0): shapes, classes, special values
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
s = s0;
s.side_threshold = 0;
pyulm.internal.settings(s);
special = [NaN -0 Inf -Inf realmin / 4 1];
special(1) = typecast(uint32([291 2146959360]), 'double');  % a NaN with a payload (0x7FF8000000000123)
values = {special, single(special), complex(special, fliplr(special)), (1:7)', 1:1000, eye(40), ...
          reshape(1:720, 2, 3, 4, 5, 6), zeros(0, 3), complex(zeros(3, 0, 2)), single(zeros(1, 0)), ...
          complex(rand(4, 5), 0), complex(single(rand(3, 3)), -1), true(1, 7), false(3, 0), ...
          int8([-128 127]), uint16(0:65535:65535), int32([-2^31 2^31 - 1]), [uint64(0) intmax('uint64')], ...
          [intmin('int64') intmax('int64')], complex(int16([1 2]), int16([3 -4])), ...
          rand(7, 1), rand(3, 4)', 7.5};
check_echo(values, 'side files, threshold 0');
end

function test_side_files_mat_format(D)
% 'side_format' 'mat' (MATLAB's side files: MAT v5 both ways) also works under Octave
s = pyulm.internal.settings();
s.side_format = 'mat';
[listing, restore] = spy_transport(D, s); %#ok<ASGLU>
IQ = load_iq(D);
check_echo({IQ, single(IQ), abs(IQ), real(IQ) > 0}, 'MAT v5 side files');
txt = read_text(listing);
check(isempty(strfind(txt, 'Octave-1-L')) && ~isempty(strfind(txt, 'out_1.side MATLAB 5.0')) && ...
      ~isempty(strfind(txt, 'arg_1.side MATLAB 5.0')), 'side files are not MAT v5:\n%s', txt);
end

function test_npy_odd_sizes(D) %#ok<INUSD>
% the .npy path (above 2 GB) in chunks of uint64 words: remainders, several chunks, every class
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
s = s0;
s.npy_threshold = 64;
pyulm.internal.settings(s);
values = {single(rand(1, 2^20 + 3)), rand(5, 7, 3), int8(-50:50), uint16(1:33), rand(1, 2^20 + 5) > 0.5, ...
          complex(single(rand(3, 11)), single(rand(3, 11))), int64(-20:20), true(9, 9)};
check_echo(values, '.npy files');
x = single(rand(1, 2^20 + 3));
f = [tempname() '.npy'];
cleaner = onCleanup(@() delete(f));
pyulm.internal.write_npy(f, x);
check(same_bits(pyulm.internal.read_npy(f), x), 'write_npy/read_npy');
end
