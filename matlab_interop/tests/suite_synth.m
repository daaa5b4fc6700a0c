function tests = suite_synth()
%SUITE_SYNTH Octave/MATLAB tests of pyulm.synth (PgD labelled frames as PALA-style blocks).
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_synth_block, @test_synth_refusals};
end

function test_synth_block(D)
p = struct('center_frequency_mhz', 7.6, 'fractional_bandwidth', 0.77, 'n_cycles', 2, 'pitch_mm', 0.3, ...
           'n_elements', 128, 'f_number', 1.5, 'n_angles', 5, 'angle_span_deg', 20, ...
           'pixel_size_mm', 0.1, 'depth_mm', 15);
out = fullfile(D.workdir, 'synth block.mat');
remove = onCleanup(@() remove_file(out));
b = pyulm.synth(p, 4, 'shape', [32 40], 'density', 5, 'seed', 2, 'source', 'physics', 'out', out);
check(isequal(size(b.IQ), [32 40 4]) && ~isreal(b.IQ), 'IQ of size %s', mat2str(size(b.IQ)));
check(size(b.GT, 2) == 4 && size(b.GT, 1) == numel(b.GT_intensity), 'GT not [z x frame id] with intensities');
check(all(b.GT(:, 3) >= 1 & b.GT(:, 3) <= 4), 'GT frames not 1-based within 1..4');
% each bubble is on its image: the modulus near a GT position is a local bright spot
k = find(b.GT_intensity > 0.6, 1);
if ~isempty(k)
    z = round(b.GT(k, 1));
    x = round(b.GT(k, 2));
    f = b.GT(k, 3);
    if z > 1 && z < 32 && x > 1 && x < 40
        patch = abs(b.IQ(z - 1:z + 1, x - 1:x + 1, f));
        check(max(patch(:)) > 0.4, 'no bright spot at GT row %d', k);
    end
end
% the file: pyulm.read reads it as a PALA block, load() gives the same ground truth
data = pyulm.read(out);
check(isequal(size(data.IQ), [32 40 4]), 'pyulm.read: IQ of size %s', mat2str(size(data.IQ)));
check_close(double(data.IQ), double(b.IQ), 1e-6, 'pyulm.read IQ');
F = load(out);
check(isequal(F.GT, b.GT), 'GT in the file differs from the returned GT');
check(abs(F.UF.TwFreq - 7.6) < 1e-12, 'UF.TwFreq = %g', F.UF.TwFreq);
check(strcmp(F.Synth.source, 'physics'), 'Synth.source = %s', F.Synth.source);
check(F.Synth.params.n_angles == 5, 'Synth.params.n_angles = %g', F.Synth.params.n_angles);
end

function test_synth_refusals(D)
p = struct('center_frequency_mhz', 7.6);
out = fullfile(D.workdir, 'never written.mat');
expect_error(@() pyulm.synth(struct('frequency', 7.6), 2, 'source', 'physics', 'out', out), ...
             'pyulm:Python:UnknownOptionError', 'frequency');
expect_error(@() pyulm.synth(struct('center_frequency_mhz', -1), 2, 'source', 'physics', 'out', out), ...
             'pyulm:Python:ValueError', 'center_frequency_mhz');
expect_error(@() pyulm.synth(p, 2, 'weights', fullfile(D.workdir, 'no model'), 'out', out), ...
             'pyulm:Python:FileNotFoundError', 'no model');
expect_error(@() pyulm.synth(p, 2, 'colour', 'red'), 'pyulm:Python:TypeError', 'colour');
check(~exist(out, 'file'), 'a refused call left %s', out);
end
