function tests = suite_learned()
%SUITE_LEARNED Octave/MATLAB tests of the learned methods that are not localizers:
%   Deep-stULM track maps and the fUS -> ULM enhancement (both need PyTorch in pyulm's Python).
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_track_maps, @test_fus2ulm};
end

function test_track_maps(D) %#ok<INUSD>
rng_state = rand('state'); %#ok<RAND>
restore = onCleanup(@() rand('state', rng_state)); %#ok<RAND>
rand('state', 1); %#ok<RAND>
iq = complex(rand(32, 32, 64) - 0.5, rand(32, 32, 64) - 0.5);
angio = pyulm.track_maps(iq);
check(isequal(size(angio), [128 128]), 'track map of size %s, expected [128 128]', mat2str(size(angio)));
check(all(isfinite(angio(:))) && all(angio(:) >= 0), 'track map values not finite and >= 0');
expect_error(@() pyulm.track_maps(iq(:, :, 1:10)), 'pyulm:Python:ValueError', 'frames');
expect_error(@() pyulm.track_maps(iq, 'no_such_option', 1), 'pyulm:Python:TypeError', 'no_such_option');
end

function test_fus2ulm(D) %#ok<INUSD>
[x, z] = meshgrid(linspace(-1, 1, 128));
img = exp(-(x - 0.2 * z).^2 / 0.01);  % one bright vessel in [0, 1]
out = pyulm.fus2ulm(img, 'steps', 4, 'seed', 1);
check(isequal(size(out), size(img)), 'output of size %s, expected %s', mat2str(size(out)), mat2str(size(img)));
check(all(isfinite(out(:))), 'non-finite output');
expect_error(@() pyulm.fus2ulm(img * NaN), 'pyulm:Python:ValueError', 'image');
end
