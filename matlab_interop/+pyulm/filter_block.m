function IQf = filter_block(frames, varargin)
%FILTER_BLOCK PALA's clutter filter chain: SVD, optional band-pass, non-finite -> 0.
%   IQf = pyulm.filter_block(IQ, svd_cutoff, band, frame_rate) or with options
%   'svd_cutoff', 'band' ([low high] Hz), 'frame_rate' (Hz), 'order',
%   'zero_phase' (see pyulm.filtering.filter_block).
pyulm.internal.check_count('pyulm.filter_block', nargin, 1, Inf, 'inputs');
pyulm.internal.check_arg('pyulm.filter_block', 'frames', frames, 'numeric');
[pos, kw] = pyulm.internal.split_args('pyulm.filter_block', varargin);
IQf = pyulm.internal.call('filter_block', 1, [{frames}, pos], kw);
end
