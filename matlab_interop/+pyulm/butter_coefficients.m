function [b, a] = butter_coefficients(band, frame_rate, order)
%BUTTER_COEFFICIENTS Butterworth band-pass coefficients, as MATLAB butter.
%   [b, a] = pyulm.butter_coefficients([low high], frame_rate, order) equals
%   butter(order, [low high] / (frame_rate / 2), 'bandpass') (order 2 by
%   default) without the Signal Processing Toolbox / Octave signal package.
pyulm.internal.check_count('pyulm.butter_coefficients', nargin, 2, 3, 'inputs');
if nargin < 3
    order = 2;
end
[b, a] = pyulm.internal.call('butter_coefficients', 2, {band, frame_rate, order});
b = reshape(b, 1, []);
a = reshape(a, 1, []);
end
