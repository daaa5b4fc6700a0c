function tests = suite_edges()
%SUITE_EDGES Octave/MATLAB tests of what PALA users meet: PALA's edge behaviour,
%   single precision, messages that name the field, 1-based positions.
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_tracking_empty_input, @test_localization_edge_inputs, @test_pala_console_lines, ...
         @test_svd_pala_single, @test_messages_name_the_field, @test_process_frame_rate_and_positions};
end

function test_tracking_empty_input(D)
% a block without detections: PALA's message and sentinel, the loop goes on
txt = evalc('T = ULM_tracking2D(zeros(0, 4), D.ULM);');
check(iscell(T) && numel(T) == 1 && isequal(T{1}, [0 0 0 0]), 'empty MatTracking gave %s', disp_value(T));
check(~isempty(strfind(txt, 'Was not able to find tracks')), 'PALA''s message is missing: "%s"', txt);
end

function test_localization_edge_inputs(D)
ULM = px_ulm(D);
frames = abs(D.IQf(:, :, 1:10));
% the output class follows the input, as in PALA
M = ULM_localization2D(single(frames), ULM);
check(isa(M, 'single') && size(M, 2) == 4 && size(M, 1) > 0, 'single input gave %s %s', class(M), mat2str(size(M)));
M16 = ULM_localization2D(int16(frames), ULM);
check(isa(M16, 'int16'), 'int16 input gave %s', class(M16));
% NaN in MatIn: rows come back, as in PALA, no error
withnan = frames;
withnan(5, 5, 2) = NaN;
Mn = ULM_localization2D(withnan, ULM);
check(size(Mn, 2) == 4 && size(Mn, 1) > 0, 'MatIn with NaN gave %s', mat2str(size(Mn)));
% a block without candidates gives an empty table, no error (PALA's behaviour)
Me = ULM_localization2D(zeros(size(frames)), ULM);
check(isempty(Me), 'an all-zero MatIn gave %s', mat2str(size(Me)));
end

function test_pala_console_lines(D) %#ok<INUSD>
T = {[1.2 1.6; 1.4 1.4; 2.5 2.5]};
txt = evalc('M = ULM_Track2MatOut(T, [3 3]);'); %#ok<NASGU>
check(~isempty(strfind(txt, 'Building 2D ULM image')), 'PALA''s console line is missing: "%s"', txt);
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
pyulm.setup('PalaMessages', false, 'Save', false);
txt = evalc('M = ULM_Track2MatOut(T, [3 3]);'); %#ok<NASGU>
check(isempty(strfind(txt, 'Building 2D ULM image')), 'PalaMessages false still prints: "%s"', txt);
expect_error(@() pyulm.setup('PalaMesages', false, 'Save', false), 'pyulm:BadArgument', 'PalaMesages');
end

function test_svd_pala_single(D)
IQ = single(load_iq(D));
exact = pyulm.SVDfilter(IQ, [5 size(IQ, 3)]);
pala = pyulm.SVDfilter(IQ, [5 size(IQ, 3)], 'precision', 'pala_single');
check(isa(pala, 'single') && isa(exact, 'single'), 'classes %s, %s', class(pala), class(exact));
check(isequal(pala, D.IQf_pala_single), 'pala_single differs from Python''s svd_filter(precision=''pala_single'')');
check(isequal(exact, D.IQf_single_double), 'the double route differs from Python''s');
check(~isequal(pala, exact), 'pala_single gave the double route''s result');
% the drop-in follows pyulm.setup('SVDPrecision', ...)
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
pyulm.setup('SVDPrecision', 'pala_single', 'Save', false);
check(isequal(SVDfilter(IQ, [5 size(IQ, 3)]), pala), 'the drop-in ignores SVDPrecision');
expect_error(@() pyulm.setup('SVDPrecision', 'quad', 'Save', false), 'pyulm:BadArgument', 'SVDPrecision');
expect_error(@() pyulm.SVDfilter(IQ, 5, 'precison', 'double'), 'pyulm:BadArgument', 'precison');
end

function test_messages_name_the_field(D)
ULM = px_ulm(D);
frames = rand(20, 20, 3);
ULM.fwhm = 'three';
expect_error(@() ULM_localization2D(frames, ULM), 'pyulm:Python:ValueError', 'ULM.fwhm');
ULM.fwhm = '3';
expect_error(@() ULM_localization2D(frames, ULM), 'pyulm:Python:ValueError', 'ULM.fwhm');
err = expect_error(@() pyulm.localize(frames, 'radial', 'fwhm', 3, 'number_of_particles', 5, 'bogus_option', 1), ...
                   'pyulm:Python:UnknownOptionError', 'bogus_option');
check(~isempty(strfind(err.message, 'radial')), 'the message does not name the method: %s', err.message);
expect_error(@() pyulm.localize(frames, 'radial', 'fwhm', 3, 'numberOfParticles', 5), ...
             'pyulm:Python:UnknownOptionError', 'did you mean number_of_particles');
expect_error(@() pyulm.localize(frames), 'pyulm:BadArgument', 'pyulm.localize: 1 inputs given, expected at least 2');
expect_error(@() ULM_localization2D(frames), 'pyulm:BadArgument', 'ULM_localization2D');
expect_error(@() pyulm.SVDfilter(frames, 5, 'precision'), 'pyulm:BadArgument', 'SVDfilter');
err = expect_error(@() pyulm.metrics('no_such_metric'), 'pyulm:Python:BridgeError', 'no public function');
check(isempty(strfind(err.message, 'Metadata')) && isempty(strfind(err.message, 'Localizations')), ...
      'classes listed as functions: %s', err.message);
end

function test_process_frame_rate_and_positions(D)
% the frame rate comes from ULM.scale(3) when frame_rate is absent; MatTracking is 1-based
ULM = px_ulm(D);
check(~isfield(ULM, 'frame_rate'), 'the test ULM must not carry frame_rate');
r = pyulm.process(load_iq(D), ULM);
check_close(r.MatTracking, D.MatTracking + [0 1 1 0], 1e-9, 'process: MatTracking (1-based)');
check(numel(r.tracks) == numel(D.tracks), 'process: %d tracks, expected %d', numel(r.tracks), numel(D.tracks));
check_close(r.tracks{end}, D.tracks{end}, 1e-5, 'process: last track (PALA''s Track_tot)');
end

function s = disp_value(v)
s = evalc('disp(v)');
end
