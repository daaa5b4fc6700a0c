% A PALA-style processing loop (as PALA_InVivoULM_example.m) written only with
% PALA's function names: with matlab_interop/dropin ahead on the path it runs
% on pyulm. Expects workdir (folder of the IQ files) in the workspace.
IQfiles = dir(fullfile(workdir, 'PALA block*.mat'));
load(fullfile(IQfiles(1).folder, IQfiles(1).name), 'UF');
framerate = UF.FrameRateUF;
Track_tot = {};
for hhh = 1:numel(IQfiles)
    load(fullfile(IQfiles(hhh).folder, IQfiles(hhh).name), 'IQ');
    SizeOfBloc = size(IQ);
    ULM = struct('numberOfParticles', 40, 'size', SizeOfBloc, 'scale', [1 1 1 / framerate], ...
                 'res', 10, 'SRscale', 0.1, 'max_linking_distance', 2, 'max_gap_closing', 0, ...
                 'min_length', 15, 'fwhm', [3 3], 'LocMethod', 'radial', ...
                 'ButterCuttofFreq', [50 249]);
    ULM.SVD_cutoff = [5 SizeOfBloc(3)];
    ULM.parameters.NLocalMax = 3;
    if exist('butter') == 2 %#ok<EXIST>
        [but_b, but_a] = butter(2, ULM.ButterCuttofFreq / (framerate / 2), 'bandpass');
    else
        % Octave without the signal package: same coefficients from pyulm
        [but_b, but_a] = pyulm.butter_coefficients(ULM.ButterCuttofFreq, framerate, 2);
    end
    IQ_filt = SVDfilter(IQ, ULM.SVD_cutoff);
    IQ_filt = filter(but_b, but_a, IQ_filt, [], 3);
    IQ_filt(~isfinite(IQ_filt)) = 0;
    MatTracking = ULM_localization2D(abs(IQ_filt), ULM);
    MatTracking(:, 2:3) = (MatTracking(:, 2:3) - [1 1]) .* [1 1];
    Track_tot_i = ULM_tracking2D(MatTracking, ULM);
    Track_tot = cat(1, Track_tot, Track_tot_i);
end
ULM.SRsize = round(ULM.size(1:2) ./ ULM.SRscale);
Track_matout = cellfun(@(x) (x(:, [1 2 3 4]) + [1 1 0 0] * 1) ./ [ULM.SRscale ULM.SRscale 1 1], ...
                       Track_tot, 'UniformOutput', 0);
MatOut = ULM_Track2MatOut(Track_matout, ULM.SRsize + [1 1]);
MatOut_zdir = ULM_Track2MatOut(Track_matout, ULM.SRsize + [1 1], 'mode', '2D_vel_z');
[MatOut2, MatOut_vel] = ULM_Track2MatOut(Track_matout, ULM.SRsize + [1 1], 'mode', '2D_velnorm');
