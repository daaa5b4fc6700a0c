function write_npy(path, x)
%WRITE_NPY Write a numeric/logical array as a Fortran-ordered .npy file.
%   numpy maps it without copying (np.load(path, mmap_mode='r')) in MATLAB's
%   index order. Complex arrays are written interleaved (<c16 / <c8) in chunks.
%   Real data go out in chunks reinterpreted as uint64 (typecast): Octave's
%   fwrite costs about the same per element whatever its size, so this writes
%   single and integer data 2 to 8 times faster than fwrite(fid, x, 'single').
[descr, prec] = pyulm.internal.npy_descr(class(x));
if ~isreal(x)
    descr = sprintf('<c%d', 2 * str2double(descr(3:end)));
end
dims = size(x);
shape = sprintf('%d, ', dims);
header = sprintf('{''descr'': ''%s'', ''fortran_order'': True, ''shape'': (%s), }', descr, shape(1:end - 2));
total = 10 + numel(header) + 1;
header = [header repmat(' ', 1, mod(64 - mod(total, 64), 64)) char(10)];
fid = fopen(path, 'w', 'ieee-le');
if fid < 0
    pyulm.internal.raise('pyulm:TransportFailed', sprintf('cannot write %s', path));
end
closer = onCleanup(@() fclose(fid));
fwrite(fid, [147 uint8('NUMPY') 1 0], 'uint8');
fwrite(fid, numel(header), 'uint16');
fwrite(fid, header, 'char');
n = numel(x);
chunk = 2^20;  % elements, a multiple of 8
if isreal(x)
    width = str2double(descr(3:end));
    for i0 = 1:chunk:n
        v = x(i0:min(i0 + chunk - 1, n));
        if islogical(v)
            v = uint8(v);
        end
        m = numel(v) - mod(numel(v), 8 / width);  % whole uint64 words
        if m > 0
            fwrite(fid, typecast(v(1:m), 'uint64'), 'uint64');
        end
        if m < numel(v)
            fwrite(fid, v(m + 1:end), prec);
        end
    end
else
    for i0 = 1:chunk:n
        v = x(i0:min(i0 + chunk - 1, n));
        fwrite(fid, [real(v(:)).'; imag(v(:)).'], prec);
    end
end
clear closer;
end
