function varargout = process(source, varargin)
%PROCESS Run the whole pipeline (filter, localize, track, render) on an acquisition.
%   r = pyulm.process(IQ, ULM) filters, localizes and tracks one IQ block as
%   PALA's in vivo example (ULM also needs SVD_cutoff, ButterCuttofFreq and
%   the frame rate: ULM.frame_rate, else 1 / ULM.scale(3); ULM.pyulm_svd =
%   'pala_single' follows PALA's single-precision SVD). Returns
%   r.MatTracking, [intensity z x frame] as ULM_localization2D returns it (z
%   and x in 1-based pixels); r.tracks, PALA's Track_tot ([z x vz vx t],
%   positions in wavelengths from the first pixel: 0-based, as PALA's script
%   makes them); r.powdop, r.timings.
%   summary = pyulm.process(files, 'out_dir', folder, ...) processes whole
%   acquisitions (pyulm.pipeline.run) with files a name or a cell of names.
pyulm.internal.check_count('pyulm.process', nargin, 1, Inf, 'inputs');
[pos, kw] = pyulm.internal.split_args('pyulm.process', varargin);
varargout = pyulm.internal.forward('process', nargout, [{source}, pos], kw);
end
