function varargout = process(source, varargin)
%PROCESS Run the whole pipeline (filter, localize, track, render) on an acquisition.
%   r = pyulm.process(IQ, ULM) filters, localizes and tracks one IQ block as
%   PALA's in vivo example (ULM also needs frame_rate, SVD_cutoff,
%   ButterCuttofFreq): r.MatTracking, r.tracks, r.powdop, r.timings.
%   summary = pyulm.process(files, 'out_dir', folder, ...) processes whole
%   acquisitions (pyulm.pipeline.run) with files a name or a cell of names.
narginchk(1, Inf);
[pos, kw] = pyulm.internal.split_args('pyulm.process', varargin);
varargout = pyulm.internal.forward('process', nargout, [{source}, pos], kw);
end
