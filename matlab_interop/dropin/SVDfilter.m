function IQf = SVDfilter(IQ, cutoff)
%SVDFILTER PALA-compatible SVDfilter running on pyulm (drop-in).
%   IQf = SVDfilter(IQ, cutoff); see pyulm.SVDfilter. Put this folder ahead
%   of PALA on the path (addpath) to run PALA scripts on pyulm.
IQf = pyulm.SVDfilter(IQ, cutoff);
end
