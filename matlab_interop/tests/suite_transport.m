function tests = suite_transport()
%SUITE_TRANSPORT Octave/MATLAB tests of the file transport: classes, shapes, side files,
%   .npy files, temporary folders, the shell.
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_npy_transport, @test_classes_roundtrip, @test_tempdir_cleanup, @test_shell_quote, ...
         @test_python_environment, @test_side_files, @test_side_files_odd_values, ...
         @test_side_files_mat_format, @test_npy_odd_sizes, @test_damaged_response};
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
pyulm.SVDfilter(rand(4, 4, 6), 5);  % the session's worker (and its folder) exist before counting
before = list_dir(tempdir());
pyulm.SVDfilter(rand(4, 4, 6), 5);
try
    pyulm.SVDfilter(rand(4, 4, 6), [0 2]);
catch
end
after = list_dir(tempdir());
check(numel(after) == numel(before), 'temporary entries: %d before, %d after', numel(before), numel(after));
check(~isempty(strfind(tempdir(), ' ')), 'the test must run with a tempdir containing spaces: %s', tempdir());
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
before = list_dir(tempdir());
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
after = list_dir(tempdir());
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
cleaner = onCleanup(@() remove_file(f));
pyulm.internal.write_npy(f, x);
check(same_bits(pyulm.internal.read_npy(f), x), 'write_npy/read_npy');
end

function test_damaged_response(D)
% a Python that leaves a damaged response.mat (disk trouble, a killed writer): pyulm:TransportFailed
fake = fullfile(D.workdir, 'python damaging its response');
q = @pyulm.internal.shell_quote;
fid = fopen(fake, 'w');
fprintf(fid, '#!/bin/sh\nfor last; do :; done\nprintf ''MATLAB 5.0 MAT-file, damaged'' > "$last"\n');
fclose(fid);
system(['chmod +x ' q(fake)]);
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
s = s0;
s.python = fake;
s.worker = false;
pyulm.internal.settings(s);
expect_error(@() pyulm.internal.call('echo', 1, {1}, struct()), 'pyulm:TransportFailed', 'cannot be read');
end
