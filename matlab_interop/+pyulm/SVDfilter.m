function IQf = SVDfilter(IQ, cutoff)
%SVDFILTER PALA's SVD clutter filter, computed by pyulm.
%   IQf = pyulm.SVDfilter(IQ, cutoff) projects each pixel's time series of the
%   block IQ [Nz, Nx, Nt] (real or complex) on the temporal singular vectors
%   numbered cutoff (1-based; [5 Nt] removes the 4 strongest, i.e. tissue).
%   Same class and size as IQ. See PALA's SVDfilter.
narginchk(2, 2);
pyulm.internal.check_arg('SVDfilter', 'IQ', IQ, 'numeric');
pyulm.internal.check_arg('SVDfilter', 'cutoff', cutoff, 'numeric');
IQf = pyulm.internal.call('SVDfilter', 1, {IQ, cutoff});
end
