% A PALA-style processing script: the call sequence of PALA's in vivo example
% (set up the paths, select the data, ULM parameters, then per block SVD filter,
% band-pass, localization, tracking; finally the density and velocity maps),
% written only with PALA's function names. Like PALA's scripts it starts by
% putting a PALA tree on the path with addpath(genpath(...)) (what
% run('PALA_SetUpPaths.m') does), which shadows the drop-in, then restores
% the drop-in with the one line pyulm.dropin(). Expects in the workspace:
% workdir (folder of the IQ files) and pala_root (a folder tree holding
% PALA's function names).

%% Set up the paths, as PALA_SetUpPaths.m, then put the drop-in back in front
addpath(genpath(pala_root));
pyulm.dropin();

%% Selection of the data
IQfiles = dir(fullfile(workdir, 'PALA block*.mat'));
Nbuffers = numel(IQfiles);
load(fullfile(IQfiles(1).folder, IQfiles(1).name), 'UF', 'PData');
framerate = UF.FrameRateUF;
lambda = 1540 / (UF.TwFreq * 1e3);  % mm

%% ULM parameters
tmp = load(fullfile(IQfiles(1).folder, IQfiles(1).name), 'IQ');
SizeOfBloc = size(tmp.IQ);
res = 10;
ULM = struct('numberOfParticles', 40, 'size', SizeOfBloc, 'scale', [1 1 1 / framerate], ...
             'res', res, 'SVD_cutoff', [5 SizeOfBloc(3)], 'max_linking_distance', 2, 'min_length', 15, ...
             'fwhm', [1 1] * 3, 'max_gap_closing', 0, 'interp_factor', 1 / res, 'LocMethod', 'radial');
ULM.ButterCuttofFreq = [50 249];
ULM.parameters.NLocalMax = 3;
if exist('butter') == 2 %#ok<EXIST>
    [but_b, but_a] = butter(2, ULM.ButterCuttofFreq / (framerate / 2), 'bandpass');
else
    % Octave without the signal package: same coefficients from pyulm
    [but_b, but_a] = pyulm.butter_coefficients(ULM.ButterCuttofFreq, framerate, 2);
end
ULM.lambda = lambda;

%% Load and localize the data, block by block
Track_tot = cell(Nbuffers, 1);
for hhh = 1:Nbuffers
    fprintf('Processing bloc %d/%d\n', hhh, Nbuffers);
    tmp = load(fullfile(IQfiles(hhh).folder, IQfiles(hhh).name), 'IQ');
    IQ_filt = SVDfilter(tmp.IQ, ULM.SVD_cutoff);
    tmp = [];
    IQ_filt = filter(but_b, but_a, IQ_filt, [], 3);
    IQ_filt(~isfinite(IQ_filt)) = 0;
    MatTracking = ULM_localization2D(abs(IQ_filt), ULM);
    IQ_filt = [];
    MatTracking(:, 2:3) = (MatTracking(:, 2:3) - [1 1]) .* ULM.scale(1:2);
    Track_tot{hhh, 1} = ULM_tracking2D(MatTracking, ULM);
end
Track_tot = cat(1, Track_tot{:});

%% Density and velocity maps on the super-resolved grid
ULM.SRscale = ULM.scale(1) / ULM.res;
ULM.SRsize = round(ULM.size(1:2) .* ULM.scale(1:2) / ULM.SRscale);
Track_matout = cellfun(@(x) (x(:, [1 2 3 4]) + [1 1 0 0] * 1) ./ [ULM.SRscale ULM.SRscale 1 1], ...
                       Track_tot, 'UniformOutput', 0);
MatOut = ULM_Track2MatOut(Track_matout, ULM.SRsize + [1 1]);
MatOut_zdir = ULM_Track2MatOut(Track_matout, ULM.SRsize + [1 1], 'mode', '2D_vel_z');
[MatOut2, MatOut_vel] = ULM_Track2MatOut(Track_matout, ULM.SRsize + [1 1], 'mode', '2D_velnorm');
MatOut_vel = MatOut_vel * ULM.lambda;  % mm/s
