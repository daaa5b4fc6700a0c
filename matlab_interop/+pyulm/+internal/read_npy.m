function x = read_npy(path)
%READ_NPY Read a .npy file written by numpy (numeric, logical or complex).
fid = fopen(path, 'r', 'ieee-le');
if fid < 0
    pyulm.internal.raise('pyulm:TransportFailed', sprintf('cannot read %s', path));
end
closer = onCleanup(@() fclose(fid));
magic = fread(fid, 6, 'uint8=>char').';
if ~strcmp(magic(2:end), 'NUMPY')
    pyulm.internal.raise('pyulm:TransportFailed', sprintf('%s is not a .npy file', path));
end
ver = fread(fid, 2, 'uint8');
if ver(1) == 1
    hlen = fread(fid, 1, 'uint16');
else
    hlen = fread(fid, 1, 'uint32');
end
header = fread(fid, hlen, 'uint8=>char').';
descr = regexp(header, '''descr'':\s*''([^'']*)''', 'tokens', 'once');
descr = descr{1};
fortran = ~isempty(regexp(header, '''fortran_order'':\s*True', 'once'));
shape_txt = regexp(header, '''shape'':\s*\(([^)]*)\)', 'tokens', 'once');
dims = sscanf(strrep(shape_txt{1}, ',', ' '), '%d').';
if isempty(dims)
    dims = [1 1];
elseif numel(dims) == 1
    dims = [dims 1];
end
kind = descr(2);
width = str2double(descr(3:end));
is_complex = kind == 'c';
if is_complex
    width = width / 2;
    kind = 'f';
end
if descr(1) == '>'
    pyulm.internal.raise('pyulm:TransportFailed', sprintf('%s: big-endian .npy files are not supported', path));
end
switch kind
    case 'f'
        if width == 8
            prec = 'double';
        else
            prec = 'single';
        end
    case 'b'
        prec = 'uint8';
    case 'i'
        prec = sprintf('int%d', 8 * width);
    case 'u'
        prec = sprintf('uint%d', 8 * width);
    otherwise
        pyulm.internal.raise('pyulm:TransportFailed', sprintf('%s: unsupported dtype %s', path, descr));
end
n = prod(dims);
if is_complex
    v = fread(fid, 2 * n, ['*' prec]);
    v = complex(v(1:2:end), v(2:2:end));
else
    v = read_words(fid, n, prec, width);
end
if kind == 'b'
    v = logical(v);
end
if fortran
    x = reshape(v, dims);
else
    x = permute(reshape(v, fliplr(dims)), numel(dims):-1:1);
end
clear closer;
end

function v = read_words(fid, n, prec, width)
% N elements of class PREC read in chunks as uint64 words and reinterpreted
% (typecast): Octave's fread costs about the same per element whatever its size.
v = zeros(n, 1, prec);
chunk = 2^20;  % elements, a multiple of 8
for i0 = 1:chunk:n
    m = min(chunk, n - i0 + 1);
    whole = m - mod(m, 8 / width);
    if whole > 0
        v(i0:i0 + whole - 1) = typecast(fread(fid, whole * width / 8, '*uint64'), prec);
    end
    if whole < m
        v(i0 + whole:i0 + m - 1) = fread(fid, m - whole, ['*' prec]);
    end
end
end
