function IQf = SVDfilter(IQ, cutoff, varargin)
%SVDFILTER PALA's SVD clutter filter, computed by pyulm.
%   IQf = pyulm.SVDfilter(IQ, cutoff) projects each pixel's time series of the
%   block IQ [Nz, Nx, Nt] (real or complex) on the temporal singular vectors
%   numbered cutoff (1-based; [5 Nt] removes the 4 strongest, i.e. tissue).
%   Same class and size as IQ. See PALA's SVDfilter.
%   IQf = pyulm.SVDfilter(IQ, cutoff, 'precision', p) chooses the SVD route:
%   'double' (accurate, whatever the class of IQ) or 'pala_single' (PALA's own
%   single-precision arithmetic on single IQ, to compare with MATLAB results
%   bit for bit where PALA's arithmetic allows). The default is
%   pyulm.setup('SVDPrecision', ...), itself 'double' by default.
pyulm.internal.check_count('SVDfilter', nargin, 2, 4, 'inputs');
pyulm.internal.check_arg('SVDfilter', 'IQ', IQ, 'numeric');
pyulm.internal.check_arg('SVDfilter', 'cutoff', cutoff, 'numeric');
kw = pyulm.internal.name_value('SVDfilter', varargin);
names = fieldnames(kw);
bad = setdiff(names, {'precision'});
if ~isempty(bad)
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf('SVDfilter: unknown option ''%s''; the only option is ''precision''', bad{1}));
end
if isempty(names)
    s = pyulm.internal.settings();
    kw.precision = 'double';
    if isfield(s, 'svd_precision')
        kw.precision = s.svd_precision;
    end
end
IQf = pyulm.internal.call('SVDfilter', 1, {IQ, cutoff}, kw);
end
