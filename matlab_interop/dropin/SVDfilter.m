function IQf = SVDfilter(IQ, cutoff)
%SVDFILTER PALA-compatible SVDfilter running on pyulm (drop-in).
%   IQf = SVDfilter(IQ, cutoff); see pyulm.SVDfilter. Put this folder ahead
%   of PALA on the path (pyulm.dropin() after PALA_SetUpPaths) to run PALA scripts on pyulm.
pyulm.internal.dropin_check();  % warns once if PALA's copies are ahead of this folder
pyulm.internal.check_count('SVDfilter', nargin, 2, 2, 'inputs');
IQf = pyulm.SVDfilter(IQ, cutoff);
end
