function tests = suite_cycleulm()
%SUITE_CYCLEULM Octave/MATLAB tests of CycleULM through the bridge: the named pipelines
%   (pyulm.cycleulm) and the MB-DT translate step (pyulm.translate), with their refusals.
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_cycleulm_baselines, @test_cycleulm_refusals, @test_translate_and_cycleulm_pipelines};
end

function iq = moving_bubbles()
% Three Gaussian bubbles (FWHM 3 px) crossing a 32 x 40 field at 0.5 px/frame, 24 frames, faint noise.
[x, z] = meshgrid(0:39, 0:31);
s = 3 / (2 * sqrt(2 * log(2)));
iq = zeros(32, 40, 24);
rand('state', 3); %#ok<RAND>
for t = 1:24
    f = zeros(32, 40);
    for b = 1:3
        f = f + exp(-((z - 8 * b).^2 + (x - 6 - 0.5 * t - 3 * b).^2) / (2 * s^2));
    end
    iq(:, :, t) = f + 0.02 * rand(32, 40);
end
end

function test_cycleulm_baselines(D) %#ok<INUSD>
iq = moving_bubbles();
for name = {'baseline1', 'baseline2'}
    res = pyulm.cycleulm(iq, name{1}, 'fwhm', 3, 'number_of_particles', 5, 'min_length', 3, 'frame_rate', 1000);
    check(strcmp(res.name, name{1}), '%s: result named %s', name{1}, res.name);
    check(isequal(size(res.maps.MatOut), [4 * 32 + 1, 4 * 40 + 1]), '%s: MatOut of size %s', name{1}, ...
          mat2str(size(res.maps.MatOut)));
    check(all(res.maps.MatOut(:) >= 0) && sum(res.maps.MatOut(:)) > 0, '%s: empty or negative density', name{1});
    % 1-based positions: the bubbles sit on rows 9, 17 and 25 (0-based 8, 16, 24); every track on one of them
    zs = cellfun(@(t) mean(t(:, 1)), res.tracks.tracks(:));
    check(numel(zs) >= 2 && all(min(abs(zs - [9 17 25]), [], 2) < 0.5), '%s: tracks at rows %s, expected 9, 17, 25', ...
          name{1}, mat2str(zs', 3));
    check(any(abs(res.localizations.z - 17) < 0.5), '%s: no localization on the bubble of row 17', name{1});
    check(isfield(res.timings, 'denoise') && isfield(res.timings, 'localize'), '%s: stage timings missing', name{1});
end
end

function test_cycleulm_refusals(D) %#ok<INUSD>
iq = moving_bubbles();
expect_error(@() pyulm.cycleulm(iq, 'cycleulm-nope'), 'pyulm:Python:ValueError', 'unknown pipeline');
expect_error(@() pyulm.cycleulm(iq, 'cycleulm-ncc'), 'pyulm:Python:ValueError', 'translator');
expect_error(@() pyulm.cycleulm(iq, 'baseline1', 'translator', tempdir()), 'pyulm:Python:ValueError', 'baseline');
expect_error(@() pyulm.cycleulm(iq, 'baseline1', 'no_such_option', 1), 'pyulm:Python:TypeError', 'no_such_option');
expect_error(@() pyulm.cycleulm(iq * NaN, 'baseline1'), 'pyulm:Python:ValueError', 'frames');
missing = fullfile(tempdir(), 'no such MB-DT model');
expect_error(@() pyulm.translate(iq, missing), 'pyulm:Python:ValueError', 'no such MB-DT model');
end

function test_translate_and_cycleulm_pipelines(D) %#ok<INUSD>
% A tiny MB-DT translator (a few training steps, seconds) trained by pyulm's Python into a
% temporary folder whose path holds spaces and quotes; then the translate step and the
% CycleULM pipelines on it through the bridge.
s = pyulm.internal.settings();
work = pyulm.internal.make_tempdir();
cleanup = onCleanup(@() pyulm.internal.remove_tree(work)); %#ok<NASGU>
model = fullfile(work, 'tiny ''mbdt'' model');
% torch's compile cache goes inside the folder removed at the end (not into TMPDIR)
code = ['import os, sys; os.environ["TORCHINDUCTOR_CACHE_DIR"] = sys.argv[1] + " cache"; ' ...
        'import torch; torch.set_num_threads(1); from pyulm.sim import free_motion; ' ...
        'from pyulm.nn.cycleulm.mbdt_train import train_mbdt; ' ...
        'iq = free_motion((32, 40), n_frames=12, n_bubbles=(3, 6), seed=3).iq; ' ...
        'train_mbdt(iq, sys.argv[1], log=lambda s: None, config={"model": {"width": 4, "disc_width": 4}, ' ...
        '"data": {"patch": 16, "psf_fwhm": [3, 3], "n_bubbles": [1, 3]}, "train": {"epochs": 1, ' ...
        '"steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0}})'];
[status, out] = system(pyulm.internal.python_command(s.python, {'-c', code, model}, work));
check(status == 0, 'training the tiny translator failed: %s', out);
iq = moving_bubbles();
mb = pyulm.translate(iq, model);
check(isequal(size(mb), size(iq)) && isa(mb, 'single'), 'translate: %s %s', class(mb), mat2str(size(mb)));
check(all(isfinite(mb(:))), 'translate: non-finite output');
mb16 = pyulm.translate(iq, model, 'precision', 'bf16');  % the bfloat16 copy: same size, close values
check(isequal(size(mb16), size(iq)) && max(abs(double(mb16(:)) - double(mb(:)))) < 0.05, 'translate bf16');
expect_error(@() pyulm.translate(iq, model, 'precision', 'fp16'), 'pyulm:Python:ValueError', 'precision');
for name = {'cycleulm-ncc', 'cycleulm-loc'}
    res = pyulm.cycleulm(iq, name{1}, 'translator', model, 'number_of_particles', 5, 'min_length', 2);
    check(isequal(size(res.maps.MatOut), [4 * 32 + 1, 4 * 40 + 1]), '%s: MatOut of size %s', name{1}, ...
          mat2str(size(res.maps.MatOut)));
    check(isfield(res.timings, 'translate'), '%s: no translate stage', name{1});
    check(max(abs(double(res.frames(:)) - double(mb(:)))) == 0, '%s: the localizer did not see MB-DT''s frames', ...
          name{1});
end
expect_error(@() pyulm.translate(iq(:, :, 1:2), model), 'pyulm:Python:ValueError', 'frames');
end
