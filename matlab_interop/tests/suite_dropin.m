function tests = suite_dropin()
%SUITE_DROPIN Octave/MATLAB tests of the PALA drop-in folder: PALA's names, arguments and outputs.
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_pala_script, @test_dropin_precedence, @test_locmethod, @test_tracking_pala, @test_track2matout_modes};
end

function test_pala_script(D)
workdir = D.workdir;
[pala_root, cleanup] = fake_pala(D); %#ok<ASGLU>
pala_style_example;
dropin = fullfile(fileparts(fileparts(mfilename('fullpath'))), 'dropin');
check(strcmp(which('ULM_localization2D'), fullfile(dropin, 'ULM_localization2D.m')), ...
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
check_close(MatOut_vel, D.MatOut_vel * lambda, 1e-6, 'MatOut_vel (mm/s)');
check(any(MatOut_zdir(:) < 0) && any(MatOut_zdir(:) > 0), 'MatOut_zdir is not the signed velocity map');
end

function test_dropin_precedence(D)
% addpath(genpath(PALA)) shadows the drop-in: a drop-in entry warns once with the
% line to add, and pyulm.dropin() puts the drop-in back in front
[pala_root, cleanup] = fake_pala(D); %#ok<ASGLU>
addpath(genpath(pala_root));
shadowed = pyulm.internal.dropin_check('shadowed');
check(numel(shadowed) == 4, 'PALA''s copies shadow %d drop-in names, expected 4', numel(shadowed));
pyulm.internal.dropin_check('reset');  % the warning comes once per session: start afresh
lastwarn('');
pyulm.internal.dropin_check();
[msg, id] = lastwarn();
check(strcmp(id, 'pyulm:DropinShadowed') && ~isempty(strfind(msg, 'pyulm.dropin();')) && ...
      ~isempty(strfind(msg, 'PALA_SetUpPaths')), 'no pyulm:DropinShadowed warning with the fix: [%s] %s', id, msg);
lastwarn('');
pyulm.internal.dropin_check();
[msg, id] = lastwarn(); %#ok<ASGLU>
check(isempty(id), 'the shadowing warning came twice');
err = [];
try
    ULM_tracking2D(zeros(0, 4), D.ULM);
catch err
end
check(~isempty(err) && strcmp(err.identifier, 'pyulm:test:palaCalled'), 'PALA''s stand-in did not run');
moved = pyulm.dropin();
check(moved && isempty(pyulm.internal.dropin_check('shadowed')), 'pyulm.dropin() did not restore precedence');
check(~pyulm.dropin(), 'a second pyulm.dropin() reports a move');
end

function [root, cleanup] = fake_pala(D)
% A PALA-like tree whose functions have PALA's names and fail when called
root = fullfile(D.workdir, 'PALA copy', 'PALA');
sub = fullfile(root, 'PALA_addons', 'ULM_toolbox');
if ~exist(sub, 'dir')
    mkdir(sub);
end
names = {'SVDfilter', 'ULM_localization2D', 'ULM_tracking2D', 'ULM_Track2MatOut'};
for k = 1:numel(names)
    fid = fopen(fullfile(sub, [names{k} '.m']), 'w');
    fprintf(fid, 'function varargout = %s(varargin)\n', names{k});
    fprintf(fid, 'error(''pyulm:test:palaCalled'', ''PALA copy of %s ran instead of the drop-in'');\n', names{k});
    fprintf(fid, 'end\n');
    fclose(fid);
end
old_path = path();
cleanup = onCleanup(@() path(old_path));
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
